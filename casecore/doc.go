// Package casecore is the domain of haochaping: rating levels and channels,
// ratings, the bad-rating case workflow (差评闭环) with its states, roles and
// transitions, deadlines counted on the Chinese working-day calendar, and the
// Service that every channel (IVR, SMS, API, dashboard) goes through.
//
// The workflow logic lives here, in Go, and is tested with a fake clock. The
// persistence is the Store interface declared here and implemented by
// casecore/redisstore: every change computed by the Service is handed to the
// store as one Change, which the store applies atomically with a
// compare-and-set on the case's version, so two processes sharing one Redis
// never both apply a transition or fire a deadline twice.
//
// casecore imports no project package except the leaves internal/clock and
// configs (the embedded calendar).
package casecore
