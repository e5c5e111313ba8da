#include "dcn/dcn.h"

namespace dcn {

Error::Error(const std::string &function, const std::string &argument, const std::string &message)
    : std::runtime_error(function + ": " + argument + ": " + message),
      function_(function), argument_(argument), detail_(message) {}

}  // namespace dcn
