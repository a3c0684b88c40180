// Package lowprio runs background work (loading a model, encrypting one into the
// store) on an OS thread of lower scheduling priority, so that it takes the CPU that
// requests being served and the transfer in progress leave, rather than theirs.
package lowprio
