package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/strata-dev/strata/frontend"
	"github.com/strata-dev/strata/spec"
)

// actionInputs are the inputs of the actions the shipped workflows use, at
// the pinned major versions, as their action.yml files declare them. A
// workflow cannot run here, so this is what catches a misspelt input: GitHub
// only warns about those, and the step silently does something else.
var actionInputs = map[string][]string{
	"actions/checkout@v4":         {"repository", "ref", "token", "fetch-depth", "path", "submodules", "lfs"},
	"actions/upload-artifact@v4":  {"name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite", "include-hidden-files"},
	"docker/setup-qemu-action@v3": {"image", "platforms", "cache-image"},
	"docker/setup-buildx-action@v3": {"version", "driver", "driver-opts", "buildkitd-flags", "buildkitd-config", "buildkitd-config-inline",
		"install", "use", "name", "endpoint", "platforms", "append", "keep-state", "cache-binary", "cleanup"},
	"docker/login-action@v3": {"registry", "username", "password", "ecr", "logout"},
	"docker/build-push-action@v6": {"add-hosts", "allow", "annotations", "attests", "build-args", "build-contexts", "builder",
		"cache-from", "cache-to", "call", "cgroup-parent", "context", "file", "labels", "load", "network", "no-cache",
		"no-cache-filters", "outputs", "platforms", "provenance", "pull", "push", "sbom", "secrets", "secret-envs",
		"secret-files", "shm-size", "ssh", "tags", "target", "ulimit", "github-token"},
	"docker/bake-action@v6": {"builder", "source", "allow", "call", "files", "workdir", "load", "no-cache", "provenance",
		"pull", "push", "sbom", "set", "targets", "github-token"},
}

type workflow struct {
	Jobs map[string]struct {
		Needs    yaml.Node `yaml:"needs"`
		Strategy struct {
			Matrix map[string][]string `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []struct {
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestWorkflowsAreValid parses the shipped GitHub Actions workflows and
// checks what can be checked without GitHub: every action is one we know at
// its pinned version, every input exists, spec files exist, build args are
// ones the spec accepts, and bake targets exist in docker-bake.hcl.
func TestWorkflowsAreValid(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(repo, ".github/workflows/*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	bake, err := os.ReadFile(filepath.Join(repo, "docker-bake.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	bakeTargets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(?:target|group) "([^"]+)"`).FindAllStringSubmatch(string(bake), -1) {
		bakeTargets[m[1]] = true
	}
	// Matrix targets are named by their name attribute; keep its literal
	// prefix ("node-" of "node-${distro}-...") for --set patterns.
	for _, m := range regexp.MustCompile(`(?m)^\s+name\s*=\s*"([^"$]+)`).FindAllStringSubmatch(string(bake), -1) {
		bakeTargets[m[1]] = true
	}
	var buildArgs []string
	for _, a := range spec.Overridable() {
		buildArgs = append(buildArgs, a.Name)
	}
	buildArgs = append(buildArgs, "BUILDKIT_SYNTAX")

	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var wf workflow
		if err := yaml.Unmarshal(data, &wf); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(wf.Jobs) == 0 {
			t.Errorf("%s has no jobs", file)
		}
		scopesRead, scopesWritten := map[string]string{}, map[string]bool{}
		for job, j := range wf.Jobs {
			var needs []string
			if j.Needs.Kind == yaml.ScalarNode {
				needs = []string{j.Needs.Value}
			} else if err := j.Needs.Decode(&needs); err != nil {
				t.Errorf("%s: job %s: needs: %v", file, job, err)
			}
			for _, n := range needs {
				if _, ok := wf.Jobs[n]; !ok {
					t.Errorf("%s: job %s needs %q, which is no job of the workflow", file, job, n)
				}
			}
			for i, step := range j.Steps {
				for _, scope := range ghaScopes(step.With["cache-from"]) {
					scopesRead[scope] = job
				}
				for _, scope := range ghaScopes(step.With["cache-to"]) {
					scopesWritten[scope] = true
				}
				if target, ok := step.With["target"]; ok {
					for _, name := range expandMatrix(target, j.Strategy.Matrix) {
						if !slices.ContainsFunc(frontend.Targets().Targets, func(t targets.Target) bool { return t.Name == name }) {
							t.Errorf("%s: job %s: target %q is not a strata target", file, job, name)
						}
					}
				}
				where := filepath.Base(file) + ": job " + job + " step " + step.Uses
				inputs, known := actionInputs[step.Uses]
				if !known {
					t.Errorf("job %s step %d: unknown action %q (pin one of the versions in actionInputs)", job, i, step.Uses)
					continue
				}
				for input, value := range step.With {
					if !slices.Contains(inputs, input) {
						t.Errorf("%s: %s has no input %q", where, step.Uses, input)
					}
					checkInput(t, where, repo, input, value, buildArgs, bakeTargets)
				}
			}
		}
		// A cache scope only read is a cache that never fills.
		for scope, job := range scopesRead {
			if !scopesWritten[scope] {
				t.Errorf("%s: job %s reads the GHA cache scope %q, which no job writes", file, job, scope)
			}
		}
	}
}

// ghaScopes lists the scope= values of type=gha cache lines, with matrix
// expressions kept as written, so that a job's own scope matches itself.
func ghaScopes(value string) []string {
	var scopes []string
	for _, line := range strings.Split(value, "\n") {
		for _, field := range strings.Split(strings.TrimSpace(line), ",") {
			if scope, ok := strings.CutPrefix(field, "scope="); ok && strings.Contains(line, "type=gha") {
				scopes = append(scopes, scope)
			}
		}
	}
	return scopes
}

// expandMatrix replaces a "${{ matrix.NAME }}" value with each of the
// matrix's values for NAME; any other value stands for itself.
func expandMatrix(value string, matrix map[string][]string) []string {
	m := regexp.MustCompile(`^\$\{\{\s*matrix\.(\w+)\s*\}\}$`).FindStringSubmatch(value)
	if m == nil {
		return []string{value}
	}
	return matrix[m[1]]
}

// checkInput checks the values that name things in this repository.
func checkInput(t *testing.T, where, repo, input, value string, buildArgs []string, bakeTargets map[string]bool) {
	t.Helper()
	switch input {
	case "file", "files":
		if _, err := os.Stat(filepath.Join(repo, value)); err != nil {
			t.Errorf("%s: %s: %v", where, input, err)
		}
	case "build-args":
		for _, line := range strings.Split(strings.TrimSpace(value), "\n") {
			name, _, _ := strings.Cut(strings.TrimSpace(line), "=")
			if !slices.Contains(buildArgs, name) {
				t.Errorf("%s: build arg %q is not one the spec accepts", where, name)
			}
		}
	case "targets":
		for _, target := range strings.Split(value, ",") {
			if target = strings.TrimSpace(target); !bakeTargets[target] {
				t.Errorf("%s: bake target %q is not in docker-bake.hcl", where, target)
			}
		}
	case "set":
		for _, line := range strings.Split(strings.TrimSpace(value), "\n") {
			target, _, _ := strings.Cut(strings.TrimSpace(line), ".")
			if name := strings.TrimSuffix(target, "*"); name == target && !bakeTargets[target] {
				t.Errorf("%s: --set for unknown bake target %q", where, target)
			} else if name != target && !hasPrefixKey(bakeTargets, name) {
				t.Errorf("%s: --set pattern %q matches no bake target", where, target)
			}
		}
	case "cache-to", "cache-from":
		for _, line := range strings.Split(strings.TrimSpace(value), "\n") {
			if !strings.Contains(line, "type=gha") || !strings.Contains(line, "scope=") {
				t.Errorf("%s: %s %q: want type=gha with a scope per layer or target", where, input, line)
			}
		}
	}
}

func hasPrefixKey(m map[string]bool, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
