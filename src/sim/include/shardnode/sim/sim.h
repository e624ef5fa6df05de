// The simulator in one include: seeded randomness, virtual clock and scheduler,
// simulated links, topology generators. See src/sim/README.md.
#pragma once

#include "shardnode/sim/network.h"
#include "shardnode/sim/rng.h"
#include "shardnode/sim/scheduler.h"
#include "shardnode/sim/task.h"
#include "shardnode/sim/topology.h"
