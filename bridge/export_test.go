package bridge

// Exported for the external tests (package bridge_test), which may import
// packages that import bridge.

// NewPlanValidator returns the contract validator (validate_test.go) of
// one run: it checks each plan of the run in order and returns the rules
// broken.
func NewPlanValidator() func(RunPlan) []string { return newPlanChecker().check }
