using System.Runtime.CompilerServices;

namespace UQEngine.Tests;

internal static class TestSetup
{
    /// <summary>
    /// Test classes run in parallel, each with its own llama.cpp context; with one decode thread each they share the
    /// cores instead of spinning against each other (see ContextOptions.DefaultThreads).
    /// </summary>
    [ModuleInitializer]
    internal static void OneDecodeThreadPerContext()
    {
        if (Environment.GetEnvironmentVariable("UQENGINE_THREADS") is null) Environment.SetEnvironmentVariable("UQENGINE_THREADS", "1");
    }
}
