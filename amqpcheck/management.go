package amqpcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rmqlb/rmqlb/healthcheck"
)

// alarmsPath is the management plugin's cluster-wide alarm health check: 200 without alarms,
// 503 with the list of alarms. Cluster-wide because an alarm anywhere blocks publishers on
// every node, which is what the publish probe sees too (/api/health/checks/local-alarms only
// tells about the node itself).
const alarmsPath = "/api/health/checks/alarms"

// managementAlarms asks the management plugin for alarms in effect. It returns the alarm text
// (empty: none) or why it could not tell; err only when this host could not connect for a
// shortage of its own (healthcheck.LocalShortage), which says nothing of the broker.
func (c *Check) managementAlarms(ctx context.Context) (alarm, probeErr string, err error) {
	url := strings.TrimSuffix(c.cfg.ManagementURL, "/") + alarmsPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Sprintf("building request for %s: %v", url, err), nil
	}
	req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	resp, err := c.http.Do(req)
	if healthcheck.LocalShortage(err) {
		return "", "", fmt.Errorf("querying %s: %w", url, err)
	}
	if err != nil {
		return "", fmt.Sprintf("querying %s: %v", url, err), nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Sprintf("reading %s: %v", url, err), nil
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return "", "", nil
	case http.StatusServiceUnavailable:
	default:
		return "", fmt.Sprintf("querying %s: %s", url, resp.Status), nil
	}
	var r struct {
		Reason string `json:"reason"`
		Alarms []struct {
			Node     string `json:"node"`
			Resource string `json:"resource"`
		} `json:"alarms"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Sprintf("parsing answer of %s: %v", url, err), nil
	}
	var parts []string
	for _, a := range r.Alarms {
		parts = append(parts, fmt.Sprintf("%s alarm on %s", a.Resource, a.Node))
	}
	if len(parts) == 0 {
		if r.Reason == "" {
			r.Reason = "alarms in effect"
		}
		return r.Reason, "", nil
	}
	return strings.Join(parts, ", "), "", nil
}
