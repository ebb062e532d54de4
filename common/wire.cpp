/* SPDX-License-Identifier: MIT */
#include "common/wire.hpp"
