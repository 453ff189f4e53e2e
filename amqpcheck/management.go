package amqpcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// alarmsPath is the management plugin's cluster-wide alarm health check: 200 without alarms,
// 503 with the list of alarms. Cluster-wide because an alarm anywhere blocks publishers on
// every node, which is what the publish probe sees too (/api/health/checks/local-alarms only
// tells about the node itself).
const alarmsPath = "/api/health/checks/alarms"

// managementAlarms asks the management plugin for alarms in effect. It returns the alarm text
// (empty: none) or why it could not tell.
func (c *Check) managementAlarms(ctx context.Context) (alarm, probeErr string) {
	url := strings.TrimSuffix(c.cfg.ManagementURL, "/") + alarmsPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Sprintf("building request for %s: %v", url, err)
	}
	req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Sprintf("querying %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Sprintf("reading %s: %v", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return "", ""
	case http.StatusServiceUnavailable:
	default:
		return "", fmt.Sprintf("querying %s: %s", url, resp.Status)
	}
	var r struct {
		Reason string `json:"reason"`
		Alarms []struct {
			Node     string `json:"node"`
			Resource string `json:"resource"`
		} `json:"alarms"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Sprintf("parsing answer of %s: %v", url, err)
	}
	var parts []string
	for _, a := range r.Alarms {
		parts = append(parts, fmt.Sprintf("%s alarm on %s", a.Resource, a.Node))
	}
	if len(parts) == 0 {
		if r.Reason == "" {
			r.Reason = "alarms in effect"
		}
		return r.Reason, ""
	}
	return strings.Join(parts, ", "), ""
}
