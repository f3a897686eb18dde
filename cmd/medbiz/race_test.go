//go:build race

package main

// The binary built by the tests is built with the race detector when the
// tests are: it reuses the packages `go test -race` already compiled.
func init() { raceEnabled = true }
