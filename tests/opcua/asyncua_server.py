"""A third-party OPC UA server for Watchfloor's interop tests (python asyncua), on loopback.

python asyncua_server.py PORT — prints "ready" once it serves opc.tcp://127.0.0.1:PORT/interop/ with, in namespace
urn:test:asyncua, the folder Line9 holding the object Filler with Temperature (Double), Count (Int64), State
(String) and Pressure (Double, always BadSensorFailure), changed every 100 ms. Runs until killed.
"""
import asyncio
import datetime
import sys

from asyncua import Server, ua


async def main(port: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/interop/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:test:asyncua")
    line = await server.nodes.objects.add_folder(f"ns={ns};s=Line9", f"{ns}:Line9")
    filler = await line.add_object(f"ns={ns};s=Line9.Filler", f"{ns}:Filler")
    temperature = await filler.add_variable(f"ns={ns};s=Line9.Filler.Temperature", f"{ns}:Temperature", 20.0)
    count = await filler.add_variable(
        f"ns={ns};s=Line9.Filler.Count", f"{ns}:Count", ua.Variant(0, ua.VariantType.Int64)
    )
    state = await filler.add_variable(f"ns={ns};s=Line9.Filler.State", f"{ns}:State", "Running")
    pressure = await filler.add_variable(f"ns={ns};s=Line9.Filler.Pressure", f"{ns}:Pressure", 1.0)
    async with server:
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            now = datetime.datetime.now(datetime.timezone.utc)
            await temperature.write_value(20.0 + (i % 50) * 0.5)
            await count.write_value(ua.Variant(i, ua.VariantType.Int64))
            await state.write_value("Running" if (i // 20) % 2 == 0 else "Idle")
            bad = ua.DataValue(
                Value=ua.Variant(1.5, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure),
                SourceTimestamp=now,
            )
            await pressure.write_value(bad)
            await asyncio.sleep(0.1)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
