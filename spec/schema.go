package spec

import (
	"encoding/json"
	"fmt"
	"github.com/strata-dev/strata/exporters/providers"
	"reflect"
	"sort"
	"strings"
)

// fieldDocs describes every field of the spec file, by path ("[]" marks a
// list element). The schema and the field reference in docs/spec.md are
// generated from the Go types plus this table; TestFieldDocsComplete fails
// for a field without a line here.
var fieldDocs = map[string]string{
	"apiVersion":                    "the schema version: " + APIVersion,
	"kind":                          "the document kind: " + Kind,
	"name":                          "the image name: lower-case letters, digits, '.' and '-'",
	"os":                            "the OS layer",
	"os.base":                       "base image reference; optional when the os-base build context is given",
	"os.baseDisk":                   "a vendor's published disk image (raw, qcow2, VMDK or VHD) as the base instead of an OCI rootfs: the OS is not rebuilt, the layers above it are added to its root filesystem; the os-disk build context replaces url and path",
	"os.baseDisk.url":               "where to download the disk image (http or https); needs sha256",
	"os.baseDisk.path":              "the disk image's path relative to the build context",
	"os.baseDisk.sha256":            "the image file's sha256 (64 hex digits) as published; a mismatch fails the build",
	"os.baseDisk.sha512":            "the image file's sha512 (128 hex digits), for vendors that publish SHA-512 sums only (Debian, Flatcar); instead of sha256",
	"os.baseDisk.format":            "the image file's format; detected from its header by default",
	"os.distro":                     "the distro overlay; docs/distros.md lists them",
	"os.kernel":                     "kernel package; the overlay's by default",
	"os.packages":                   "extra packages, installed after the kernel and boot packages",
	"os.packageSecret":              "ID of the BuildKit secret (--secret id=ID,...) holding the package manager's credentials for a private mirror, in apt_auth.conf(5) format for apt; mounted into the install steps only (docs/credentials.md)",
	"os.files":                      "files written into the image",
	"os.files[].path":               "absolute path",
	"os.files[].content":            "file content",
	"os.files[].mode":               "octal mode as a string",
	"os.sysctl":                     "kernel settings for /etc/sysctl.d",
	"os.modules":                    "kernel modules loaded at boot",
	"os.services":                   "systemd units to enable and disable",
	"os.services.enable":            "units to enable (.service when no suffix)",
	"os.services.disable":           "units to disable",
	"os.run":                        "shell commands run last in the OS layer (an escape hatch)",
	"kubernetes":                    "the Kubernetes layer; without it the image is a plain OS",
	"kubernetes.version":            "Kubernetes release, vMAJOR.MINOR.PATCH",
	"kubernetes.containerd":         "containerd release, MAJOR.MINOR.PATCH (1.x or 2.x)",
	"kubernetes.runc":               "runc release",
	"kubernetes.crictl":             "crictl release",
	"kubernetes.cni":                "CNI plugins release",
	"kubernetes.source":             "mirror URL serving the upstream layout; checksums still enforced",
	"kubernetes.sourceSecret":       "ID of the BuildKit secret (--secret id=ID,...) whose value is the Authorization header (\"Bearer ...\", \"Basic ...\") sent with every download below kubernetes.source (docs/credentials.md)",
	"kubernetes.install":            "where the binaries go: the root filesystem, or a systemd-sysext image",
	"kubernetes.bootstrap":          "what makes the booted node a cluster member: cloud-init (runs Cluster API's kubeadm bootstrap user-data; installed with growpart), ignition (Flatcar: its disk brings Ignition, which runs the ignition user-data) or none; the distro's default",
	"kubernetes.sandboxImage":       "pause image pinned in containerd's config",
	"kubernetes.artifacts":          "per-artifact URL and sha256 overrides",
	"kubernetes.artifacts.*":        "one artifact's override",
	"kubernetes.artifacts.*.url":    "where to fetch it instead",
	"kubernetes.artifacts.*.sha256": "its sha256 (64 hex digits); wins over the published checksum file",
	"kubernetes.images":             "image tarballs imported into containerd's k8s.io namespace before kubelet starts: a release image name (kube-proxy, ...) or {name, url, sha256}",
	"kubernetes.images[].name":      "a release image name, or any name for a tarball given by url",
	"kubernetes.images[].url":       "where to fetch the tarball (its url.sha256 is its checksum file)",
	"kubernetes.images[].sha256":    "its sha256 (64 hex digits); wins over the checksum file",
	"kubernetes.sysext":             "the systemd-sysext image (install: sysext, kubernetes-sysext target)",
	"kubernetes.sysext.format":      "its filesystem",
	"kubernetes.sysext.updates":     "systemd-sysupdate source URL for patch releases (install: sysext)",
	"disk":                          "the disk",
	"disk.size":                     "disk size, a whole number of MiB (e.g. 8GiB)",
	"disk.boot":                     "boot mode",
	"disk.bootloader":               "bootloader; grub builds the os and rootfs targets only, until the disk assembler supports it",
	"disk.root":                     "the root filesystem",
	"disk.root.filesystem":          "root filesystem type",
	"disk.root.label":               "root filesystem label, at most 16 bytes",
	"disk.cmdline":                  "kernel arguments after root=PARTUUID=... rw; the overlay's by default",
	"outputs":                       "what a build without --target makes, each a target: disk, or a provider's image and manifest.json; several go to directories of their names",
	"providers":                     "options of the provider outputs, keyed by provider name",
	"providers.*":                   "one provider's options",
	"providers.*.format":            "one of the formats the provider imports; its first by default",
	"providers.*.cpus":              "vCPUs of the OVA's virtual machine (vsphere with format ova)",
	"providers.*.memory":            "memory of the OVA's virtual machine, whole MiB",
	"providers.*.network":           "the logical network the OVA's NIC joins",
	"validate":                      "your own checks of the built image, each written as an entry of a check file's checks: list (docs/validation.md); they run with the layers' default checks at the end of the build and in strata inspect",
}

// fieldChoices are the values an enumerated field accepts today.
func fieldChoices() map[string][]string {
	supported := func(cs []choice) []string {
		var out []string
		for _, c := range cs {
			if c.supported {
				out = append(out, c.value)
			}
		}
		return out
	}
	all := func(cs []choice) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.value
		}
		return out
	}
	return map[string][]string{
		"os.baseDisk.format": supported(baseDiskFormats),
		"disk.boot":          supported(bootModes),
		// Validate takes grub; only the disk targets refuse it (CheckDisk).
		"disk.bootloader":          all(bootloaders),
		"disk.root.filesystem":     supported(filesystems),
		"kubernetes.install":       supported(installModes),
		"kubernetes.bootstrap":     supported(bootstraps),
		"kubernetes.sysext.format": supported(sysextFormats),
		"outputs[]":                outputNames,
	}
}

// fieldDefaults are the built-in defaults (distro defaults aside).
var fieldDefaults = map[string]string{
	"os.distro":                DefaultDistro,
	"os.files[].mode":          defaultFileMode,
	"kubernetes.install":       defaultInstall,
	"kubernetes.bootstrap":     defaultBootstrap,
	"kubernetes.sandboxImage":  "kubeadm's for the version",
	"kubernetes.sysext.format": defaultSysextFormat,
	"disk.size":                ByteSize(defaultDiskSize).String(),
	"disk.boot":                defaultBoot,
	"disk.bootloader":          defaultBootloader,
	"disk.root.filesystem":     defaultFilesystem,
	"disk.root.label":          defaultRootLabel,
}

// Field is one entry of the field reference.
type Field struct {
	Path, Type, Default, Description string
	Choices                          []string
}

// Fields lists every field of the spec file in declaration order.
func Fields() []Field {
	var out []Field
	walkFields(reflect.TypeOf(NodeImage{}), "", &out)
	return out
}

func walkFields(t reflect.Type, prefix string, out *[]Field) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		field := Field{Path: path, Type: typeName(ft), Default: fieldDefaults[path], Description: fieldDocs[path]}
		field.Choices = fieldChoices()[path]
		if ft.Kind() == reflect.Slice {
			field.Choices = fieldChoices()[path+"[]"]
		}
		*out = append(*out, field)
		switch {
		case ft == reflect.TypeOf(Artifacts{}):
			// Every artifact has the same shape; document it once.
			*out = append(*out, Field{Path: path + ".*", Type: "object", Description: fieldDocs[path+".*"]})
			walkFields(reflect.TypeOf(Artifact{}), path+".*", out)
		case ft == reflect.TypeOf(Providers{}):
			*out = append(*out, Field{Path: path + ".*", Type: "object", Description: fieldDocs[path+".*"],
				Choices: providers.Names()})
			walkFields(reflect.TypeOf(ProviderOptions{}), path+".*", out)
		case ft == checkListType:
			// Its entries are the check file's; docs/validation.md
			// documents them.
		case ft.Kind() == reflect.Struct && ft != byteSizeType:
			walkFields(ft, path, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkFields(ft.Elem(), path+"[]", out)
		}
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == byteSizeType:
		return "size"
	case t == checkListType:
		return "list of check"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Map:
		return "map of string"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list of string"
	case t.Kind() == reflect.Slice:
		return "list of object"
	}
	return "object"
}

// Schema is the JSON Schema (draft 2020-12) of the spec file, generated from
// the Go types, the field table and the validator's choices.
func Schema() map[string]any {
	root := objectSchema(reflect.TypeOf(NodeImage{}), "")
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://strata.dev/schemas/" + APIVersion + "/NodeImage.json"
	root["title"] = "strata " + Kind
	root["required"] = []string{"apiVersion", "kind", "name"}
	return root
}

func objectSchema(t reflect.Type, prefix string) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		props[name] = fieldSchema(f.Type, path)
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false,
		// Extension keys, as the loader allows.
		"patternProperties": map[string]any{"^x-": map[string]any{}}}
}

func fieldSchema(t reflect.Type, path string) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var s map[string]any
	switch {
	case t == byteSizeType:
		s = map[string]any{"type": []string{"string", "integer"}, "pattern": `^[0-9]+(\.[0-9]+)?\s*([KMGT]i?B?)?$`}
	case t == checkListType:
		// An entry's kind key and fields are package checks' vocabulary
		// (docs/validation.md); the loader only requires mappings.
		s = map[string]any{"type": "array", "items": map[string]any{"type": "object", "minProperties": 1,
			"description": "a check: one of the keys file, package, service, sysctl, module or cmdline, and that kind's fields"}}
	case t == reflect.TypeOf(Artifacts{}):
		s = objectSchema(t, path)
		for name := range s["properties"].(map[string]any) {
			s["properties"].(map[string]any)[name] = objectSchema(reflect.TypeOf(Artifact{}), path+".*")
		}
	case t == reflect.TypeOf(Providers{}):
		s = objectSchema(t, path)
		for name := range s["properties"].(map[string]any) {
			s["properties"].(map[string]any)[name] = objectSchema(reflect.TypeOf(ProviderOptions{}), path+".*")
		}
	case t.Kind() == reflect.Struct:
		s = objectSchema(t, path)
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}}}
	case path == "kubernetes.images":
		// An entry is a release image name, or a mapping.
		s = map[string]any{"type": "array", "items": map[string]any{"anyOf": []any{
			map[string]any{"type": "string"}, objectSchema(t.Elem(), path+"[]")}}}
	case t.Kind() == reflect.Slice:
		item := fieldSchema(t.Elem(), path+"[]")
		if c := fieldChoices()[path+"[]"]; c != nil {
			item["enum"] = c
		}
		s = map[string]any{"type": "array", "items": item}
	default:
		// Numbers and booleans are read as written ("version: 1.36").
		s = map[string]any{"type": []string{"string", "number", "boolean"}}
	}
	if d := fieldDocs[path]; d != "" {
		s["description"] = d
	}
	if c := fieldChoices()[path]; c != nil {
		s["enum"] = c
	}
	if d := fieldDefaults[path]; d != "" {
		s["default"] = d
	}
	return s
}

// FieldReference renders Fields as the Markdown table in docs/spec.md.
func FieldReference() string {
	var b strings.Builder
	b.WriteString("| field | type | default | allowed | description |\n|---|---|---|---|---|\n")
	for _, f := range Fields() {
		def, allowed := f.Default, strings.Join(f.Choices, ", ")
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Path, f.Type, def, allowed, f.Description)
	}
	return b.String()
}

// undocumented lists the field paths fieldDocs lacks, sorted.
func undocumented() []string {
	var out []string
	for _, f := range Fields() {
		if f.Description == "" {
			out = append(out, f.Path)
		}
	}
	sort.Strings(out)
	return out
}

// SchemaJSON is Schema as indented JSON, as docs/spec.schema.json holds it.
func SchemaJSON() ([]byte, error) {
	data, err := json.MarshalIndent(Schema(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
