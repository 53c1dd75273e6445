package credstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testUserARN = "arn:aws:iam::000000000000:user/platform"

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newKeyring(t testing.TB) *credstore.Keyring {
	t.Helper()
	kr, err := credstore.ParseKeyring(credstore.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newStore returns a store on a fresh real redis-server, with a keyring and
// a configured platform ARN.
func newStore(t testing.TB) (*credstore.Store, *redis.Client) {
	t.Helper()
	rdb := testenv.Redis(t).Client(t)
	return storeOn(t, rdb, newKeyring(t)), rdb
}

func storeOn(t testing.TB, rdb redis.UniversalClient, kr *credstore.Keyring) *credstore.Store {
	t.Helper()
	s, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: kr, PlatformARN: testUserARN})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
