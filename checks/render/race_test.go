//go:build race

package render

// raceDetector: this test binary runs under the race detector.
const raceDetector = true
