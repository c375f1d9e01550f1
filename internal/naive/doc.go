// Package naive is the seed incident's rule, kept to show what vigil prevents:
// "when Nova says a compute service is down, evacuate every instance of that
// host". It satisfies the same policy interface as vigil's decision engine so
// the simulator and `vigil lab --policy naive` can run it side by side.
//
// It must never be used to act on a real cloud: it neither fences nor looks
// at any signal but Nova's service state.
package naive
