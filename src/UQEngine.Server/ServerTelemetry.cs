using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace UQEngine.Server;

/// <summary>
/// Exports <see cref="ServerMetrics"/> and <see cref="ServerTracing"/> through OpenTelemetry: Prometheus scraping on
/// /metrics always, OTLP (metrics and traces) when <see cref="ServerOptions.OtlpEndpoint"/> or the standard
/// OTEL_EXPORTER_OTLP_*ENDPOINT variables say where.
/// </summary>
internal static class ServerTelemetry
{
    public static void Add(IServiceCollection services, ServerOptions options)
    {
        var telemetry = services.AddOpenTelemetry();
        telemetry.WithMetrics(metrics =>
        {
            metrics.AddMeter(ServerMetrics.MeterName);
            // OpenTelemetry listens to meters by name, process-wide: keep only this app's (another server in the same
            // process, as in the tests, has its own IMeterFactory and so its own meter).
            ((IDeferredMeterProviderBuilder)metrics).Configure((provider, builder) =>
            {
                var own = provider.GetRequiredService<IMeterFactory>();
                builder.AddView(instrument => instrument.Meter.Name == ServerMetrics.MeterName && !ReferenceEquals(instrument.Meter.Scope, own)
                    ? MetricStreamConfiguration.Drop : null);
            });
            metrics.AddPrometheusExporter(prometheus =>
            {
                prometheus.ScrapeResponseCacheDurationMilliseconds = 0; // a scrape sees every request answered before it
                prometheus.ScopeInfoEnabled = false; // the names carry the uqengine_ prefix already
            });
            if (Wanted(options, "METRICS")) metrics.AddOtlpExporter(otlp => Configure(otlp, options, "metrics"));
        });
        if (Wanted(options, "TRACES"))
            telemetry.WithTracing(tracing => tracing.AddSource(ServerTracing.SourceName).AddOtlpExporter(otlp => Configure(otlp, options, "traces")));
    }

    /// <summary>The standalone server's resource name, "uqengine", unless OTEL_SERVICE_NAME names it.</summary>
    public static void NameService(IServiceCollection services)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
            services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService("uqengine", serviceVersion: typeof(ServerTelemetry).Assembly.GetName().Version?.ToString()));
    }

    private static bool Wanted(ServerOptions options, string signal) =>
        options.OtlpEndpoint is not null
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable($"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"));

    /// <summary>The options win over the variables the exporter has read; OTLP over HTTP takes one path per signal.</summary>
    private static void Configure(OtlpExporterOptions otlp, ServerOptions options, string signal)
    {
        if (options.OtlpProtocol is { } protocol) otlp.Protocol = protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        if (options.OtlpEndpoint is not { } endpoint) return;
        otlp.Endpoint = otlp.Protocol == OtlpExportProtocol.HttpProtobuf
            ? new Uri(new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/"), "v1/" + signal)
            : endpoint;
    }
}
