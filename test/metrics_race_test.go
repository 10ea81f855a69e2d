//go:build race

package test

// metricsAllocSlack: under the race detector sync.Pool drops items at
// random, so a scrape may regrow its pooled buffers (a few dozen
// allocations); still far below one per connection.
const metricsAllocSlack = 60
