// Knobs for tests and benchmarks only; not part of the API.
#pragma once

#include <cstdint>

namespace sv::stop::internal {

// Makes every stop-aware call of the calling thread busy-wait `pause_loops`
// iterations between its stop check and the blocking system call (inside the
// rseq critical section; with the signal blocked for kSigmask). Widens the race
// window so that benchmarks can show it is closed. 0 (the default) disables it.
void SetRaceWindowForTesting(std::uint32_t pause_loops);

// The busy-wait used above, for benchmark baselines that must widen their own
// window by the same amount.
void RaceWindowSpin(std::uint32_t pause_loops);

}  // namespace sv::stop::internal
