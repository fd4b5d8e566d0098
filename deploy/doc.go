// Package deploy holds cspsync's container build (Dockerfile) and the Temporal
// dynamic config of docker-compose.yml at the repository root. It has no Go
// code: its test checks those files against internal/config, statically, so
// the compose file cannot drift from the settings the binaries read.
package deploy
