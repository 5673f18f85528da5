// libLibTorchSharp.so (TorchSharp 0.107.0) is built with GCC 13 and references std::ios_base_library_init()
// (GLIBCXX_3.4.32), which GCC 13's <iostream> emits only as a link-time anchor; older libstdc++ (Debian 12: 3.4.30)
// lacks it. This shim defines the symbol and initialises the standard streams the way GCC 12's <iostream> does.
#include <ios>
namespace std { void ios_base_library_init() {} }
static std::ios_base::Init uqengine_ios_init;
