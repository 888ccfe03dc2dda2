// Package deploy holds Fluxhook's deployment files (k8s/ for Kustomize,
// nats/ and redis/ for Helm values) and their tests: the overlays render
// and decode strictly into their Kubernetes types, each Deployment meets
// the pod policy, the alert rules pass promtool, and every metric the
// rules and the dashboard name is exported by a running binary. See
// README.md.
package deploy
