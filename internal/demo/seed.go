package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
)

// seed creates the demo bucket and uploads the sample objects. It returns
// their keys.
func seed(ctx context.Context, endpoint, accessKey, secretKey string) ([]string, error) {
	c := s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, err
	}
	objects := map[string][]byte{
		"sales/2024-01.csv":        salesCSV(0, 3000, true),
		"sales/2024-02.csv.gz":     gzipped(salesCSV(3000, 3000, false)),
		"events/2024-01-01.ndjson": eventsNDJSON(2000),
	}
	pq, err := metricsParquet(5000)
	if err != nil {
		return nil, err
	}
	objects["metrics/cpu.parquet"] = pq
	keys := make([]string, 0, len(objects))
	for _, k := range []string{"sales/2024-01.csv", "sales/2024-02.csv.gz", "events/2024-01-01.ndjson", "metrics/cpu.parquet"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(objects[k])}); err != nil {
			return nil, fmt.Errorf("put %s: %w", k, err)
		}
		keys = append(keys, fmt.Sprintf("%s (%d bytes)", k, len(objects[k])))
	}
	return keys, nil
}

var demoEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// salesCSV returns n order rows starting at id first. With bad set, two rows
// past the inference sample carry an amount that is not a number, so the
// ingest shows rows rejected within the error budget.
func salesCSV(first, n int, bad bool) []byte {
	var b bytes.Buffer
	b.WriteString("order_id,customer,amount,currency,ordered_at,shipped\n")
	customers := []string{"Acme Corp", "Globex", "Initech", `Smith "Quotes" & Co`, "Umbrella, Inc."}
	for i := range n {
		id := first + i + 1
		amount := fmt.Sprintf("%d.%02d", 10+id*7%990, id%100)
		if bad && (i == 2400 || i == 2800) {
			amount = "N/A"
		}
		cust := customers[id%len(customers)]
		if cust[0] == 'S' || cust[0] == 'U' {
			cust = `"` + bytesReplace(cust, `"`, `""`) + `"`
		}
		at := demoEpoch.Add(time.Duration(id) * 17 * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%t\n", id, cust, amount, []string{"USD", "EUR"}[id%2], at, id%3 == 0)
	}
	return b.Bytes()
}

func bytesReplace(s, old, new string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(old), []byte(new)))
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b) //nolint:errcheck // bytes.Buffer does not fail
	zw.Close()
	return out.Bytes()
}

// eventsNDJSON returns n events with a nested object and an array.
func eventsNDJSON(n int) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range n {
		enc.Encode(map[string]any{ //nolint:errcheck
			"id":   i + 1,
			"type": []string{"click", "view", "purchase"}[i%3],
			"user": map[string]any{"id": 1000 + i%50, "country": []string{"DE", "US", "BR", "JP"}[i%4]},
			"tags": []string{"web", fmt.Sprintf("campaign-%d", i%5)},
			"at":   demoEpoch.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano),
		})
	}
	return b.Bytes()
}

type cpuSample struct {
	Host  string    `parquet:"host"`
	At    time.Time `parquet:"at,timestamp(microsecond)"`
	CPU   float64   `parquet:"cpu"`
	Cores int32     `parquet:"cores"`
}

// metricsParquet returns a Parquet file of n CPU samples.
func metricsParquet(n int) ([]byte, error) {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[cpuSample](&b)
	rows := make([]cpuSample, n)
	for i := range rows {
		rows[i] = cpuSample{Host: fmt.Sprintf("host-%02d", i%12), At: demoEpoch.Add(time.Duration(i) * time.Minute),
			CPU: float64(i%100) / 100, Cores: int32(4 << (i % 3))}
	}
	if _, err := w.Write(rows); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
