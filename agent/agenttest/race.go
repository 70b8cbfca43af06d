//go:build race

package agenttest

// raceEnabled builds hac with the race detector when the tests run with it.
const raceEnabled = true
