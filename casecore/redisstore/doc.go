// Package redisstore implements casecore.Store on Redis (or any server that
// speaks its protocol and runs Lua: redis-server, the embedded miniredis).
//
// Every key name comes from keys.go. All keys of a namespace share one hash
// tag, so the Lua scripts also run on Redis Cluster (in one slot). Every
// change is one run of the apply script (apply.lua), which checks the
// expected versions and idempotency key and then performs all of the change's
// writes, or none. Records are stored as "<version>\n<json>" so the script
// compares versions without decoding JSON.
//
// It imports casecore and nothing else of the project.
package redisstore
