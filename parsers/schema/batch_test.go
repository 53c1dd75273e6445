package schema

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestBatchDeleteRow(t *testing.T) {
	s := &Schema{Fields: []Field{{Name: "i", Type: Int64}, {Name: "s", Type: String, Nullable: true},
		{Name: "b", Type: Bool}, {Name: "f", Type: Float64}, {Name: "j", Type: JSON}}}
	for del := 0; del < 4; del++ {
		b := NewBatch(s, 4)
		for r := 0; r < 4; r++ {
			b.Cols[0].AppendInt(int64(r))
			if r == 2 {
				b.Cols[1].AppendNull()
			} else {
				b.Cols[1].AppendString(fmt.Sprintf("row-%d", r))
			}
			b.Cols[2].AppendBool(r%2 == 0)
			b.Cols[3].AppendFloat(float64(r) + 0.5)
			b.Cols[4].AppendString(fmt.Sprintf(`{"r":%d}`, r))
			b.Lines = append(b.Lines, int64(r+10))
		}
		b.DeleteRow(del)
		if b.Len() != 3 {
			t.Fatalf("delete %d: %d rows", del, b.Len())
		}
		k := 0
		for r := 0; r < 4; r++ {
			if r == del {
				continue
			}
			var str any = fmt.Sprintf("row-%d", r)
			if r == 2 {
				str = nil
			}
			want := fmt.Sprint([]any{int64(r), str, r%2 == 0, float64(r) + 0.5, fmt.Sprintf(`{"r":%d}`, r)})
			got := b.Row(k)
			got[4] = string(got[4].(json.RawMessage))
			if fmt.Sprint(got) != want || b.Lines[k] != int64(r+10) {
				t.Fatalf("delete %d: row %d = %v line %d, want %s", del, k, got, b.Lines[k], want)
			}
			k++
		}
		// Appending after a delete keeps the vectors aligned.
		b.Cols[1].AppendString("new")
		if got := string(b.Cols[1].BytesAt(3)); got != "new" {
			t.Fatalf("append after delete: %q", got)
		}
	}
}
