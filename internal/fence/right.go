package fence

import "context"

// Right is what a health check learned about the device account's right
// to fence, beyond its login: a BMC that lets a read-only account in
// answers every status call and refuses the day it must fence.
type Right struct {
	// Proven: the device showed that the account may fence (e.g. its
	// Redfish role grants the privilege ComputerSystem.Reset needs).
	// False with a nil error from RightChecker means the device could not
	// tell (it exposes no account data): the check passes, unproven.
	Proven bool
	// Detail says what proved it, or why it could not be proven, e.g.
	// "account vigil has role Operator, which grants ConfigureComponents"
	// or "the BMC's service root links no AccountService".
	Detail string
}

// RightChecker is a device whose health check also proves the account's
// right to fence. The topology's health check calls CheckRight instead of
// Status when a device has it. An account shown to lack the right fails
// with ErrRefused, naming what is missing; a device that cannot tell
// returns an unproven Right and no error.
type RightChecker interface {
	CheckRight(ctx context.Context) (Status, Right, error)
}
