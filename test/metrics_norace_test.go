//go:build !race

package test

// metricsAllocSlack: a scrape's allocations that may vary between runs
// (the maps and sorts of /varz), none per connection.
const metricsAllocSlack = 5
