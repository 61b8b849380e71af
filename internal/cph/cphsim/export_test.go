package cphsim

// CommitLateNow commits every pending late commit at once, as if its delay had elapsed, and
// returns how many it committed: for tests that check what a late commit records against a clock
// they moved, without racing the real timer.
func CommitLateNow(s *Server) int { return s.late.commitNow() }
