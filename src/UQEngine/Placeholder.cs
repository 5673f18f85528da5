namespace UQEngine; internal static class Placeholder {}
