//go:build !race

package engine

// raceDetector: this test binary runs under the race detector.
const raceDetector = false
