//go:build race

package admin_test

// raceEnabled says the tests run under the race detector, which slows a
// scrape tenfold: timing checks are skipped.
const raceEnabled = true
