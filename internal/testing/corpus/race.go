//go:build race

package corpus

// raceDetector: this binary runs under the race detector.
const raceDetector = true
