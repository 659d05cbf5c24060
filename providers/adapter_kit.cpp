#include "providers/adapter_kit.hpp"

namespace tinbao::adapter {

std::string channel_error(std::string_view type, const std::vector<Channel>& channels) {
    std::string out = "type " + std::string(type) + " serves channel";
    if (channels.size() > 1) out += "s";
    for (std::size_t i = 0; i < channels.size(); ++i) {
        out += i == 0 ? " " : ", ";
        out += to_string(channels[i]);
    }
    return out + " only";
}

}  // namespace tinbao::adapter
