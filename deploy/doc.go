// Package deploy holds cspsync's container build (Dockerfile) and the
// Temporal server's configuration (temporal/config: PostgreSQL persistence,
// SQL visibility; temporal/dynamicconfig.yaml), which docker-compose.yml at
// the repository root mounts and scripts/temporal-cluster.sh (`make cluster`,
// the cluster tests) runs. It has no Go code: its tests check those files
// against internal/config and each other, statically, so the compose file,
// the local cluster and the settings the binaries read cannot drift apart.
package deploy
