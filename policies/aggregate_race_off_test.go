//go:build !race

package policies_test

// raceDetector says whether the tests run with -race (timing asserts are
// relaxed: the detector slows every goroutine several times).
const raceDetector = false
