package boottest

import (
	"fmt"
	"strings"

	"github.com/strata-dev/strata/checks"
)

// facts are what the guest printed for one check: KEY VALUE lines, and
// whether its end line came.
type facts struct {
	kv    map[string]string
	ended bool
}

func (f facts) get(k string) string { return f.kv[k] }

// consoleFacts is what the console shows of the checks.
type consoleFacts struct {
	started, done bool
	byID          map[string]*facts
}

// parseConsole reads the checks' lines out of the cleaned console. A line
// may carry other output before the prefix (a kernel message that was
// being written when the line began), so the prefix is looked for
// anywhere in it. The first value a check printed for a key counts.
func parseConsole(console string) consoleFacts {
	cf := consoleFacts{byID: map[string]*facts{}}
	for _, line := range strings.Split(console, "\n") {
		switch {
		case strings.Contains(line, startMarker):
			cf.started = true
		case strings.Contains(line, DoneMarker):
			cf.done = true
		}
		i := strings.Index(line, factPrefix)
		if i < 0 {
			continue
		}
		id, rest, _ := strings.Cut(line[i+len(factPrefix):], " ")
		key, value, _ := strings.Cut(rest, " ")
		key = strings.TrimSpace(key)
		f := cf.byID[id]
		if f == nil {
			f = &facts{kv: map[string]string{}}
			cf.byID[id] = f
		}
		if key == "end" {
			f.ended = true
		} else if _, seen := f.kv[key]; !seen && key != "" {
			f.kv[key] = strings.TrimSpace(value)
		}
	}
	return cf
}

// Results judges what the guest printed on console (the cleaned text of
// Result.Console) for each check, in the order of Checks, followed by the
// Invalid ones. A check without a complete report is an Error result: it
// could not be judged, which must not pass.
func (g *GuestChecks) Results(console string) []checks.Result {
	cf := parseConsole(console)
	out := make([]checks.Result, 0, len(g.Checks)+len(g.Invalid))
	for _, c := range g.Checks {
		var o checks.Outcome
		if f := cf.byID[c.ID]; f != nil && f.ended {
			o = c.kind.judge(c, *f)
		} else {
			o = checks.Outcome{Status: checks.Error, Detail: "no result: " + missingWhy(cf, f)}
		}
		out = append(out, checks.Result{Name: c.Name, Source: c.Source, Status: o.Status,
			Path: o.Path, Expected: o.Expected, Found: o.Found, Detail: o.Detail})
	}
	return append(out, g.Invalid...)
}

func missingWhy(cf consoleFacts, f *facts) string {
	switch {
	case f != nil:
		return "its report on the console is cut off"
	case cf.done:
		return "no line of it on the console"
	case cf.started:
		return "the checks stopped before it"
	}
	return "the checks did not start (cloud-init did not run the seed's user-data, or the boot ended first)"
}

// systemStates are systemctl is-system-running's answers, as results.
var systemStates = map[string]struct {
	status checks.Status
	why    string
}{
	"running":      {checks.Pass, ""},
	"degraded":     {checks.Fail, "a unit failed"},
	"starting":     {checks.Fail, "the boot did not finish within " + systemWait + " s"},
	"initializing": {checks.Fail, "the boot did not finish within " + systemWait + " s"},
	"maintenance":  {checks.Fail, "the rescue or emergency target is active"},
	"stopping":     {checks.Fail, "the system is shutting down"},
	"offline":      {checks.Error, "systemd is not running as the init process"},
}

func judgeSystem(_ GuestCheck, f facts) checks.Outcome {
	state := f.get("state")
	s, ok := systemStates[state]
	if !ok {
		return checks.Outcome{Status: checks.Error, Found: state, Detail: fmt.Sprintf("systemctl is-system-running answered %q", state)}
	}
	o := checks.Outcome{Status: s.status, Expected: "running", Found: state, Detail: state}
	if s.why != "" {
		o.Detail += ": " + s.why
	}
	if u := strings.Fields(f.get("failed")); len(u) > 0 {
		o.Detail += "; failed units: " + strings.Join(u, ", ")
	}
	if j := strings.Fields(f.get("jobs")); len(j) > 0 {
		o.Detail += "; jobs left: " + strings.Join(j, ", ")
	}
	return o
}

// unitFacts are systemctl show's properties of a unit.
type unitFacts struct {
	load, active, sub, result, typ, condition string
	// ran: the unit's main process was started in this boot.
	ran bool
	// waitFile is the unit's awaitsBootstrap file, and waiting says it is
	// absent.
	waitFile string
	waiting  bool
}

func unitFactsOf(c GuestCheck, f facts) unitFacts {
	start := f.get("ExecMainStartTimestampMonotonic")
	return unitFacts{
		load: f.get("LoadState"), active: f.get("ActiveState"), sub: f.get("SubState"),
		result: f.get("Result"), typ: f.get("Type"), condition: f.get("ConditionResult"),
		ran:      start != "" && start != "0",
		waitFile: c.waitFile, waiting: c.waitFile != "" && f.get("bootstrapped") == "no",
	}
}

func (u unitFacts) state() string {
	s := fmt.Sprintf("%s (%s)", u.active, u.sub)
	if u.result != "" && u.result != "success" {
		s += ", result " + u.result
	}
	return s
}

// unitRule is one case of a unit's runtime state.
type unitRule struct {
	when   func(u unitFacts) bool
	status checks.Status
	detail func(u unitFacts) string
}

// activeRules judge a unit that should run, the first that matches. A
// oneshot service without RemainAfterExit goes back to inactive (dead)
// once it ran, so it passes when it ran and succeeded; a unit whose
// Condition*= did not hold was left out by systemd on purpose, which
// boot-test cannot judge; a unit waiting for its node to join a cluster
// cannot run yet.
var activeRules = []unitRule{
	{
		when:   func(u unitFacts) bool { return u.load == "" },
		status: checks.Error,
		detail: func(unitFacts) string { return "systemctl show printed no LoadState" },
	}, {
		when:   func(u unitFacts) bool { return u.load != "loaded" },
		status: checks.Fail,
		detail: func(u unitFacts) string { return "want active, found " + u.load },
	}, {
		// Before the active rule: kubelet without its config restarts every
		// 10 s and may be caught running in between, which says nothing.
		when:   func(u unitFacts) bool { return u.waiting },
		status: checks.Skip,
		detail: func(u unitFacts) string {
			return fmt.Sprintf("%s: waits for the node to join a cluster (no %s yet)", u.state(), u.waitFile)
		},
	}, {
		when:   func(u unitFacts) bool { return u.active == "active" || u.active == "reloading" },
		status: checks.Pass,
		detail: unitFacts.state,
	}, {
		when:   func(u unitFacts) bool { return u.active == "inactive" && u.condition == "no" },
		status: checks.Skip,
		detail: func(u unitFacts) string { return u.state() + ": its start conditions did not hold in this boot" },
	}, {
		when: func(u unitFacts) bool {
			return u.active == "inactive" && u.typ == "oneshot" && u.ran && u.result == "success"
		},
		status: checks.Pass,
		detail: func(u unitFacts) string { return "oneshot, ran and succeeded: " + u.state() },
	}, {
		when:   func(u unitFacts) bool { return u.active == "inactive" && !u.ran },
		status: checks.Fail,
		detail: func(u unitFacts) string {
			return "want active, found " + u.state() + ": nothing in this boot started it"
		},
	}, {
		when:   func(unitFacts) bool { return true },
		status: checks.Fail,
		detail: func(u unitFacts) string { return "want active, found " + u.state() },
	},
}

func judgeActive(c GuestCheck, f facts) checks.Outcome {
	u := unitFactsOf(c, f)
	for _, r := range activeRules {
		if r.when(u) {
			o := checks.Outcome{Status: r.status, Found: u.state(), Detail: r.detail(u)}
			if r.status == checks.Fail {
				o.Expected = "active"
			}
			return o
		}
	}
	panic("unreachable: the last rule matches everything")
}

func judgeMasked(c GuestCheck, f facts) checks.Outcome {
	u := unitFactsOf(c, f)
	if u.load == "masked" {
		return checks.Outcome{Status: checks.Pass, Found: "masked", Detail: "masked: " + u.state()}
	}
	return checks.Outcome{Status: checks.Fail, Expected: "masked", Found: u.load, Detail: "want masked, found " + u.load + ", " + u.state()}
}

func judgeSysctl(c GuestCheck, f facts) checks.Outcome {
	want := strings.Join(strings.Fields(c.Want), " ")
	v, ok := f.kv["value"]
	if !ok {
		return checks.Outcome{Status: checks.Fail, Path: c.Subject, Expected: want, Found: "unreadable",
			Detail: fmt.Sprintf("want %s, %s is unreadable: %s", want, c.Subject, f.get("error"))}
	}
	got := strings.Join(strings.Fields(v), " ")
	if got != want {
		return checks.Outcome{Status: checks.Fail, Path: c.Subject, Expected: want, Found: got,
			Detail: fmt.Sprintf("want %s, found %s (live, %s)", want, got, c.Subject)}
	}
	return checks.Outcome{Status: checks.Pass, Path: c.Subject, Found: got, Detail: fmt.Sprintf("%s (live, %s)", got, c.Subject)}
}

// moduleStates are what check_module finds, as the report says them.
var moduleStates = map[string]string{
	"loaded":  "loaded (/proc/modules)",
	"builtin": "built into the running kernel (modules.builtin)",
	"absent":  "not loaded",
}

func judgeModule(c GuestCheck, f facts) checks.Outcome {
	return moduleOutcome(f.get("state"), "loaded", f.get("state") == "loaded" || f.get("state") == "builtin")
}

func judgeNoModule(c GuestCheck, f facts) checks.Outcome {
	return moduleOutcome(f.get("state"), "not loaded", f.get("state") == "absent")
}

func moduleOutcome(state, want string, ok bool) checks.Outcome {
	found, known := moduleStates[state]
	if !known {
		return checks.Outcome{Status: checks.Error, Detail: fmt.Sprintf("check_module printed state %q", state)}
	}
	if !ok {
		return checks.Outcome{Status: checks.Fail, Path: "/proc/modules", Expected: want, Found: found, Detail: "want " + want + ", found " + found}
	}
	return checks.Outcome{Status: checks.Pass, Path: "/proc/modules", Found: found, Detail: found}
}

func judgeCRI(_ GuestCheck, f facts) checks.Outcome {
	bin := f.get("crictl")
	switch {
	case bin == "none":
		return checks.Outcome{Status: checks.Skip, Detail: "no crictl in the image (/usr/local/bin/crictl, /usr/bin/crictl)"}
	case f.get("rc") != "0":
		return checks.Outcome{Status: checks.Fail, Path: bin, Expected: "exit status 0", Found: "exit status " + f.get("rc"),
			Detail: fmt.Sprintf("%s info: exit status %s: %s", bin, f.get("rc"), f.get("output"))}
	case f.get("RuntimeReady") != "true":
		return checks.Outcome{Status: checks.Fail, Path: bin, Expected: "RuntimeReady true", Found: "RuntimeReady " + f.get("RuntimeReady"),
			Detail: "the container runtime is not ready: RuntimeReady " + f.get("RuntimeReady")}
	}
	// NetworkReady stays false until a CNI config is installed, which on a
	// node is the cluster's doing; it is shown, not judged.
	return checks.Outcome{Status: checks.Pass, Path: bin, Found: "RuntimeReady true",
		Detail: fmt.Sprintf("RuntimeReady true, NetworkReady %s (%s info)", f.get("NetworkReady"), bin)}
}
