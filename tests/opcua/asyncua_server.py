"""A third-party OPC UA server for Watchfloor's interop tests (python asyncua), on loopback.

python asyncua_server.py PORT [PKI_DIR] — prints "ready" once it serves opc.tcp://127.0.0.1:PORT/interop/ with, in
namespace urn:test:asyncua, the folder Line9 holding the object Filler with Temperature (Double), Count (Int64),
State (String) and Pressure (Double, always BadSensorFailure), changed every 100 ms. Runs until killed.

With PKI_DIR it also offers Basic256Sha256 signed and encrypted, with a self-signed certificate made there on first
start (kept for the next, as a real server keeps its own).
"""
import asyncio
import datetime
import pathlib
import sys

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

APP_URI = "urn:test:asyncua:server"


async def main(port: int, pki: pathlib.Path | None) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/interop/")
    await server.set_application_uri(APP_URI)
    if pki is None:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    else:
        pki.mkdir(parents=True, exist_ok=True)
        key, cert = pki / "server-key.pem", pki / "server-cert.der"
        await setup_self_signed_certificate(
            key, cert, APP_URI, "localhost", [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "asyncua interop", "organizationName": "Watchfloor tests"}
        )
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        server.set_security_policy(
            [ua.SecurityPolicyType.NoSecurity, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        )
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
    asyncio.run(main(int(sys.argv[1]), pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None))
