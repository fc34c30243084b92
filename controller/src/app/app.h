#pragma once

#include "app/options.h"

namespace poolguard::controller {

/// Runs poolguard-controller until SIGTERM/SIGINT (or lost leadership); returns the exit
/// code. The composition root: config, client, informers, queue, reconciler, leader
/// election, health and metrics servers.
int RunController(const Options& options);

}  // namespace poolguard::controller
