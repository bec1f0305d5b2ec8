package engine

// StackStatus is where a stack stands: CloudFormation's statuses, one triple per operation.
type StackStatus string

// Stack statuses.
const (
	StackCreateInProgress   StackStatus = "CREATE_IN_PROGRESS"
	StackCreateComplete     StackStatus = "CREATE_COMPLETE"
	StackCreateFailed       StackStatus = "CREATE_FAILED"
	StackUpdateInProgress   StackStatus = "UPDATE_IN_PROGRESS"
	StackUpdateComplete     StackStatus = "UPDATE_COMPLETE"
	StackUpdateFailed       StackStatus = "UPDATE_FAILED"
	StackRollbackInProgress StackStatus = "UPDATE_ROLLBACK_IN_PROGRESS"
	StackRollbackComplete   StackStatus = "UPDATE_ROLLBACK_COMPLETE"
	StackRollbackFailed     StackStatus = "UPDATE_ROLLBACK_FAILED"
	StackDeleteInProgress   StackStatus = "DELETE_IN_PROGRESS"
	StackDeleteComplete     StackStatus = "DELETE_COMPLETE"
	StackDeleteFailed       StackStatus = "DELETE_FAILED"
)

// Operations the state machine runs.
const (
	OpCreate   = "create"
	OpUpdate   = "update"
	OpRollback = "rollback"
	OpDelete   = "delete"
	// OpRebuild deletes a stack, then (as OpRecreate, the state machine's second phase)
	// creates it again from the same template and inputs.
	OpRebuild  = "rebuild"
	OpRecreate = "recreate"
)

// phases are the statuses one operation moves its stack through.
type phases struct{ InProgress, Complete, Failed StackStatus }

// operations pairs each operation with its statuses. A rebuild is a delete and then a create,
// each with its own statuses.
var operations = map[string]phases{
	OpCreate:   {StackCreateInProgress, StackCreateComplete, StackCreateFailed},
	OpRecreate: {StackCreateInProgress, StackCreateComplete, StackCreateFailed},
	OpUpdate:   {StackUpdateInProgress, StackUpdateComplete, StackUpdateFailed},
	OpRollback: {StackRollbackInProgress, StackRollbackComplete, StackRollbackFailed},
	OpDelete:   {StackDeleteInProgress, StackDeleteComplete, StackDeleteFailed},
	OpRebuild:  {StackDeleteInProgress, StackDeleteComplete, StackDeleteFailed},
}

// phasesOf finds the triple a status belongs to.
func phasesOf(s StackStatus) (phases, bool) {
	for _, p := range operations {
		if s == p.InProgress || s == p.Complete || s == p.Failed {
			return p, true
		}
	}
	return phases{}, false
}

// InProgress reports whether an operation is running on the stack (or was, and died).
func (s StackStatus) InProgress() bool {
	p, ok := phasesOf(s)
	return ok && s == p.InProgress
}

// Terminal reports whether the last operation ended, well or not.
func (s StackStatus) Terminal() bool {
	p, ok := phasesOf(s)
	return ok && s != p.InProgress
}

// Outcome is the status an operation in progress ends with: its complete status when ok, else
// its failed one. A status not in progress is its own outcome.
func (s StackStatus) Outcome(ok bool) StackStatus {
	p, found := phasesOf(s)
	switch {
	case !found || s != p.InProgress:
		return s
	case ok:
		return p.Complete
	}
	return p.Failed
}

// forward reports whether s is an operation that applies nodes (create, update, rollback), as
// opposed to one that deletes them.
func (s StackStatus) forward() bool {
	return s.InProgress() && s != StackDeleteInProgress
}

// updatable reports whether the next submission of a template updates the stack in place: it
// has a revision that was applied, or a failed update on top of one.
func (s StackStatus) updatable() bool {
	switch s {
	case StackCreateComplete, StackUpdateComplete, StackUpdateFailed, StackRollbackComplete, StackRollbackFailed:
		return true
	}
	return false
}

// holdsGoodRevision reports whether the stack's current revision is one to go back to: a
// failed update or rollback leaves the last good one in Previous instead.
func (s StackStatus) holdsGoodRevision() bool {
	return s != StackUpdateFailed && s != StackRollbackFailed
}

// rollbackable reports whether the stack may roll back to Previous: after a failed update (or
// rollback), or from the update itself, which is how the state machine's rollback starts.
func (s StackStatus) rollbackable() bool {
	return s == StackUpdateFailed || s == StackUpdateInProgress || s == StackRollbackFailed
}

// NodeStatus is where one node of a stack stands.
type NodeStatus string

// Node statuses. In a delete, PENDING means "to delete".
const (
	NodePending  NodeStatus = "PENDING"
	NodeWaiting  NodeStatus = "WAITING" // applied, not yet ready
	NodeReady    NodeStatus = "READY"
	NodeFailed   NodeStatus = "FAILED"
	NodeDeleting NodeStatus = "DELETING"
	NodeDeleted  NodeStatus = "DELETED"
	// NodeSkipped: the node's when, which reads live values, was false when its
	// dependencies were READY; nothing was applied. Dependents start as after READY.
	NodeSkipped NodeStatus = "SKIPPED"
)

// ReasonWhenFalse marks a node its when left out.
const ReasonWhenFalse = "WhenFalse"
