package swift

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/internal/secret"
)

// An authentication that hands out a storage URL nothing listens on (a
// path with the account and a query with a signature): the error of the
// first request, and every log line, name that URL as http://host:port/***.
// net/http's *url.Error quotes the whole URL otherwise.
func TestSwiftErrorHidesTheStorageURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	_ = l.Close()
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Storage-Url", "http://"+down+"/v1/AUTH_SECRET-ACCOUNT?temp_url_sig=T0KEN")
		w.Header().Set("X-Auth-Token", "tok")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer auth.Close()
	var logs swtLogBuffer
	_, err = New(context.Background(), Options{
		AuthURL: auth.URL + "/auth/v1.0", User: "u", Key: secret.New("k3y-k3y"), Container: "c",
		ConnectTimeout: time.Second, Getenv: func(string) string { return "" },
		Retry:  retry.Policy{Attempts: 1},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err == nil {
		t.Fatal("a storage URL on a closed port worked")
	}
	if !strings.Contains(err.Error(), "http://"+down+"/***") {
		t.Errorf("the error does not name the storage host: %v", err)
	}
	for _, s := range []string{"SECRET", "T0KEN", "AUTH_"} {
		if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
			t.Errorf("%q in the error or the logs:\n%v\n%s", s, err, logs.String())
		}
	}
}
