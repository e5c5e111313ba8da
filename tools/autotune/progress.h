// The tuner's progress bar on stderr (redrawn in place on a terminal, one
// line per update otherwise).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

namespace dcn::autotune {

class Progress {
public:
    Progress(double budget) : budget_(budget), tty_(isatty(STDERR_FILENO)) {}
    void log(const std::string &line) {
        clear();
        std::cerr << line << "\n";
        draw();
    }
    void update(int tried, double best_ms, double speedup, double left) {
        tried_ = tried, best_ms_ = best_ms, speedup_ = speedup, left_ = left;
        if (tty_) draw();
        else std::cerr << bar() << "\n";
    }
    void finish() {
        clear();
        if (tty_) std::cerr << bar() << "\n";
        drawn_ = false;
    }

private:
    std::string bar() const {
        const int width = 24;
        const double frac = budget_ > 0 ? std::clamp(1.0 - left_ / budget_, 0.0, 1.0) : 1.0;
        const int fill = static_cast<int>(frac * width + 0.5);
        std::ostringstream o;
        o << "[" << std::string(fill, '#') << std::string(width - fill, '-') << "] " << tried_ << " candidates, best "
          << std::fixed << std::setprecision(3) << best_ms_ << " ms (x" << std::setprecision(3) << speedup_
          << " vs default), " << std::setprecision(0) << std::max(left_, 0.0) << " s left";
        return o.str();
    }
    void clear() {
        if (tty_ && drawn_) std::cerr << "\r\033[K";
    }
    void draw() {
        if (!tty_ || tried_ < 0) return;
        std::cerr << "\r\033[K" << bar() << std::flush;
        drawn_ = true;
    }
    double budget_, best_ms_ = 0, speedup_ = 1, left_ = 0;
    int tried_ = -1;
    bool tty_, drawn_ = false;
};

}  // namespace dcn::autotune
