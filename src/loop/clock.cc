#include "loop/clock.h"

namespace framed::loop {

SystemClock& system_clock() noexcept {
  static SystemClock clock;
  return clock;
}

}  // namespace framed::loop
