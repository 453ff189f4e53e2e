package migrate

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want scriptTarget
	}{
		{"killall -0 haproxy", scriptTarget{kind: targetProxyProcess}},
		{"/usr/bin/killall -0 haproxy", scriptTarget{kind: targetProxyProcess}},
		{"pidof haproxy", scriptTarget{kind: targetProxyProcess}},
		{"pgrep -x haproxy", scriptTarget{kind: targetProxyProcess}},
		{"systemctl is-active --quiet haproxy.service", scriptTarget{kind: targetProxyProcess}},
		{"service haproxy status", scriptTarget{kind: targetProxyProcess}},
		{"/etc/init.d/haproxy status", scriptTarget{kind: targetProxyProcess}},
		{"killall -0 beam.smp", scriptTarget{kind: targetLocalBroker}},
		{"systemctl is-active rabbitmq-server", scriptTarget{kind: targetLocalBroker}},
		{"rabbitmq-diagnostics -q check_running", scriptTarget{kind: targetLocalBroker}},
		{"/usr/sbin/rabbitmqctl status", scriptTarget{kind: targetLocalBroker}},
		{"nc -z 127.0.0.1 5672", scriptTarget{kind: targetAddress, host: "127.0.0.1", port: 5672}},
		{"nc -zv -w 2 10.0.0.1 5672", scriptTarget{kind: targetAddress, host: "10.0.0.1", port: 5672}},
		{"timeout 3 nc -z localhost 5670", scriptTarget{kind: targetAddress, host: "localhost", port: 5670}},
		{`bash -c "</dev/tcp/127.0.0.1/5672"`, scriptTarget{kind: targetAddress, host: "127.0.0.1", port: 5672}},
		{"curl -sf -u guest:guest http://localhost:15672/api/health/checks/alarms", scriptTarget{kind: targetAddress, host: "localhost", port: 15672}},
		{"curl -sf https://10.0.0.1/api", scriptTarget{kind: targetAddress, host: "10.0.0.1", port: 443}},
		{`sh -c 'wget -q -O- http://10.0.0.1:8404/stats'`, scriptTarget{kind: targetAddress, host: "10.0.0.1", port: 8404}},
		{"curl -sf http://10.0.0.1:99999/ http://10.0.0.2/", scriptTarget{kind: targetAddress, host: "10.0.0.2", port: 80}},
		{"curl -sf ftp://10.0.0.1/x", scriptTarget{}},
		{"/etc/keepalived/check.sh", scriptTarget{}},
		{"killall -0 nginx", scriptTarget{}},
		{"nc -z 10.0.0.1", scriptTarget{}},
		{"", scriptTarget{}},
		{"bash -c /dev/tcp/", scriptTarget{}},
	} {
		if got := classify(tc.cmd); got != tc.want {
			t.Errorf("classify(%q) = %+v, want %+v", tc.cmd, got, tc.want)
		}
	}
}
