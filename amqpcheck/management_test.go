package amqpcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestManagementProbeFake: the management alarm probe against a fake management API (the
// answers of RabbitMQ 3.10's /api/health/checks/alarms) and a fake broker that sends a real
// Connection.Start.
func TestManagementProbeFake(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	amqpSrv := startHandshakeBroker(t)
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		alarm       string
		probeErrHas string
	}{
		{"ok", 200, `{"status":"ok"}`, "", ""},
		{"alarm", 503, `{"status":"failed","reason":"There are alarms in effect in the cluster","alarms":[{"node":"rabbit@rmq1","resource":"memory"},{"node":"rabbit@rmq2","resource":"disk"}]}`,
			"memory alarm on rabbit@rmq1, disk alarm on rabbit@rmq2", ""},
		{"unauthorized", 401, `{"error":"not_authorised"}`, "", "401 Unauthorized"},
		{"garbage", 503, `<html>`, "", "parsing answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, p, _ := r.BasicAuth(); u != "mon" || p != "pw" || r.URL.Path != "/api/health/checks/alarms" {
					w.WriteHeader(http.StatusNotFound)
					return
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer web.Close()
			chk, err := New(Config{Addr: amqpSrv.addr(), User: "mon", Password: "pw", ManagementURL: web.URL + "/"})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			rep, err := chk.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Alarm != tc.alarm || !strings.Contains(rep.ProbeError, tc.probeErrHas) || (tc.probeErrHas == "" && rep.ProbeError != "") {
				t.Fatalf("report %+v", rep)
			}
		})
	}
	amqpSrv.close()
}
