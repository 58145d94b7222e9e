package e2e

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootTestExampleDisk runs `strata boot-test` on the example disk. It
// has no cloud-init, so the boot is checked to systemd's multi-user line
// and the booted-state checks are reported as skipped, with the reason;
// the command passes.
func TestBootTestExampleDisk(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	rows := strataBootTest(t, disk, "boot-test-example")
	wantBootRow(t, rows, "boot", "PASS", `reached "Reached target" and "Multi-User System" after`)
	wantBootRow(t, rows, "booted-state checks", "SKIP", "the image has no cloud-init (/usr/bin/cloud-init)", "9 checks not run, only the boot")
	if len(rows) != 2 {
		t.Errorf("%d rows, want the boot and the skipped checks: %v", len(rows), rows)
	}
}

// TestBootTestKubernetesNode runs `strata boot-test` on the Kubernetes
// node disk, which has cloud-init (bootstrap: cloud-init) and carries its
// checks: they run in the guest through the NoCloud seed and pass,
// containerd active, the layer's sysctls live, the modules loaded, crictl
// info answering; kubelet waits for kubeadm.
func TestBootTestKubernetesNode(t *testing.T) {
	requireRelease(t)
	disk, err := k8sDisk()
	if err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(env.workDir, "boot-test-k8s.xml")
	rows := strataBootTest(t, disk, "boot-test-k8s", "--junit", junit)
	for _, r := range [][]string{
		{"boot", "PASS", "(tcg)"},
		{"systemctl is-system-running", "PASS", "running"},
		{"service containerd.service", "PASS", "active (running)"},
		{"service systemd-resolved.service", "PASS", "active (running)"},
		{"service strata-node-check.service", "PASS", "oneshot, ran and succeeded"},
		{"service kubelet.service", "SKIP", "waits for the node to join a cluster (no /var/lib/kubelet/config.yaml yet)"},
		{"service swap.target", "PASS", "masked"},
		{"sysctl net.bridge.bridge-nf-call-iptables", "PASS", "1 (live, /proc/sys/net/bridge/bridge-nf-call-iptables)"},
		{"sysctl net.ipv4.ip_forward", "PASS", "1 (live, /proc/sys/net/ipv4/ip_forward)"},
		{"sysctl net.ipv4.tcp_congestion_control", "PASS", "bbr (live"},
		{"sysctl fs.inotify.max_user_watches", "PASS", "524288 (live"},
		{"module br_netfilter", "PASS", "loaded"},
		{"module overlay", "PASS", "loaded"},
		{"crictl info", "PASS", "RuntimeReady true", "(/usr/local/bin/crictl info)"},
	} {
		wantBootRow(t, rows, r[0], r[1], r[2:]...)
	}
	for name, r := range rows {
		if r.status != "PASS" && name != "service kubelet.service" {
			t.Errorf("%s: %s %s", name, r.status, r.detail)
		}
	}
	if rows["service kubelet.service"].source != "kubernetes layer" || rows["crictl info"].source != "boot-test" {
		t.Errorf("sources: %+v", rows)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || doc.Name != "strata boot-test" || doc.Tests != len(rows) || doc.Failures != 0 {
		t.Errorf("JUnit (%v): %+v\n%s", err, doc, data)
	}
}

// bootRow is one row of boot-test's table.
type bootRow struct{ status, source, detail string }

// strataBootTest runs the strata binary's boot-test on disk under TCG,
// as the e2e tier boots everything, with the console kept as name.log,
// and returns its table by check name. The command must succeed.
func strataBootTest(t *testing.T, disk, name string, extra ...string) map[string]bootRow {
	t.Helper()
	console := filepath.Join(env.workDir, name+".log")
	args := append([]string{"boot-test", "--accel", "tcg", "--timeout", "12m", "--stall", bootStall.String(), "--console", console}, extra...)
	start := time.Now()
	out, err := runEnv(30*time.Minute, env.repo, nil, env.strata, append(args, disk)...)
	t.Logf("strata boot-test took %s:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		if dst := os.Getenv("STRATA_E2E_ARTIFACTS"); dst != "" {
			copyConsole(console, filepath.Join(dst, name+".log"))
		}
		t.Fatalf("strata boot-test failed (console: %s): %v", console, err)
	}
	rows, err := parseBootTable(out)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// parseBootTable reads the table after "checks:" by its header's columns.
func parseBootTable(out string) (map[string]bootRow, error) {
	_, table, ok := strings.Cut(out, "\nchecks:\n")
	if !ok {
		return nil, fmt.Errorf("no table in:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	header := lines[0]
	cols := []int{0, strings.Index(header, "CHECK"), strings.Index(header, "SOURCE"), strings.Index(header, "DETAIL")}
	rows := map[string]bootRow{}
	for _, l := range lines[1 : len(lines)-1] { // the last line counts
		if len(l) < cols[3] {
			return nil, fmt.Errorf("short row %q", l)
		}
		field := func(i int) string { return strings.TrimSpace(l[cols[i]:cols[i+1]]) }
		rows[field(1)] = bootRow{status: field(0), source: field(2), detail: strings.TrimSpace(l[cols[3]:])}
	}
	return rows, nil
}

// TestParseBootTable runs without the e2e tier: the table as boot-test
// printed it for a manual boot.
func TestParseBootTable(t *testing.T) {
	rows, err := parseBootTable(`disk.raw: raw disk on virtio, TCG: booted in 24s

checks:
STATUS  CHECK                             SOURCE          DETAIL
PASS    boot                              boot-test       reached "Reached target" and "Multi-User System" after 19s (tcg)
FAIL    service no-such-unit.service      manual test     want active, found not-found
SKIP    crictl info                       boot-test       no crictl in the image (/usr/local/bin/crictl, /usr/bin/crictl)
3 checks: 1 passed, 1 failed, 1 skipped
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows["service no-such-unit.service"] != (bootRow{"FAIL", "manual test", "want active, found not-found"}) ||
		rows["boot"].detail != `reached "Reached target" and "Multi-User System" after 19s (tcg)` {
		t.Errorf("rows %+v", rows)
	}
}

func wantBootRow(t *testing.T, rows map[string]bootRow, name, status string, words ...string) {
	t.Helper()
	r, ok := rows[name]
	if !ok {
		t.Errorf("no row %q in %v", name, rows)
		return
	}
	if r.status != status {
		t.Errorf("%s: %s %q, want %s", name, r.status, r.detail, status)
	}
	for _, w := range words {
		if !strings.Contains(r.detail, w) {
			t.Errorf("%s: %q lacks %q", name, r.detail, w)
		}
	}
}
