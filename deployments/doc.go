// Package deployments holds no code: its tests check the container image (Dockerfile), the
// compose file and the Kubernetes manifests in this directory against the real parsers and API
// types of Docker, Compose and Kubernetes, because CI runs no container engine and no cluster.
// It is a module of its own so that those parsers never become dependencies of the worker.
package deployments
