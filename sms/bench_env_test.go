package sms

import "os"

// benchRedis lets `make bench` point the outbox benchmark at a given Redis.
func benchRedis() string { return os.Getenv("HAOCHAPING_BENCH_REDIS_URL") }
