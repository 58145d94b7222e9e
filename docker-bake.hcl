# docker buildx bake: the strata frontend image, and node images built with it
# in the same run.
#
#   docker buildx bake frontend   # the frontend image for linux/amd64 and linux/arm64
#   docker buildx bake            # every node image of the matrix below
#   docker buildx bake --print    # what that would build
#
# The node targets take the frontend from the frontend-local target through a
# named context, so bake builds the frontend first and the nodes with it,
# without pushing it anywhere. To build with a published frontend instead,
# set BUILDKIT_SYNTAX to its reference: --set 'node-*.args.BUILDKIT_SYNTAX=REF'.

variable "VERSION" {
  default = "dev"
}

# Where `bake frontend` tags the image; push with --push.
variable "FRONTEND_IMAGE" {
  default = "strata:${VERSION}"
}

# The node matrix: node x Kubernetes version x output. A node is a name
# from NODE_SPECS. Override a list from the environment as comma-separated
# values, e.g. NODES=debian-13 KUBERNETES_VERSIONS=v1.36.3,v1.35.8 docker
# buildx bake.
variable "NODES" {
  type    = list(string)
  default = ["debian-12", "debian-13"]
}

# The spec each node is built from; its pins (the OS base included) apply
# except where the matrix overrides them with build args. Add a node here
# and to NODES, or give a node's target its own base with --set
# 'node-debian-13-*.contexts.os-base=REF'.
variable "NODE_SPECS" {
  type = map(string)
  default = {
    "debian-12" = "examples/kubernetes-node.yaml"
    "debian-13" = "examples/kubernetes-node-debian-13.yaml"
  }
}

variable "KUBERNETES_VERSIONS" {
  type    = list(string)
  default = ["v1.36.3"]
}

# Strata targets to export for each node: disk, or a provider's image with
# its manifest.json (raw, qemu, aws, azure, gcp, vsphere, openstack), e.g.
# OUTPUTS=aws,gcp docker buildx bake. Each provider's guest configuration
# is its own graph over the shared OS layer, so the matrix shares that cache.
variable "OUTPUTS" {
  type    = list(string)
  default = ["disk"]
}

group "default" {
  targets = ["node"]
}

target "frontend" {
  dockerfile = "Dockerfile"
  target     = "frontend"
  platforms  = ["linux/amd64", "linux/arm64"]
  args       = { VERSION = VERSION }
  tags       = [FRONTEND_IMAGE]
}

# The frontend for this machine only, as the node targets' named context.
target "frontend-local" {
  inherits  = ["frontend"]
  platforms = []
  tags      = []
}

target "node" {
  name       = "node-${node}-${replace(k8s, ".", "-")}-${output}"
  matrix     = { node = NODES, k8s = KUBERNETES_VERSIONS, output = OUTPUTS }
  context    = "."
  dockerfile = NODE_SPECS[node]
  contexts   = { strata = "target:frontend-local" }
  target     = output
  args = {
    BUILDKIT_SYNTAX    = "strata"
    KUBERNETES_VERSION = k8s
  }
  output = ["type=local,dest=out/${node}/${k8s}/${output}"]
}
