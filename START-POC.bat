@echo off
rem Starts the seqd proof of concept (profile "poc": one node, embedded durable store).
rem First run: installs the npm dependencies and builds. Extra arguments go to "seqd serve".
setlocal
cd /d "%~dp0"
where node >nul 2>nul
if errorlevel 1 (
  echo seqd needs Node.js 20 or newer: install it from your software centre or package manager, then run this again.
  exit /b 1
)
for /f %%v in ('node -p "process.versions.node.split(\".\")[0]"') do set NODE_MAJOR=%%v
if %NODE_MAJOR% LSS 20 (
  echo seqd needs Node.js 20 or newer.
  exit /b 1
)
if not exist node_modules\.seqd-installed (
  echo == installing dependencies ^(npm ci^)
  call npm ci --no-audit --no-fund || exit /b 1
  type nul > node_modules\.seqd-installed
)
if not exist dist\cli.js (
  echo == building
  call npm run build || exit /b 1
)
if "%SEQ_PORT%"=="" (set PORT=8080) else (set PORT=%SEQ_PORT%)
if "%SEQ_PROFILE%"=="" (set PROFILE=poc) else (set PROFILE=%SEQ_PROFILE%)
echo.
echo seqd POC starting. When it is up:
echo   Dashboard: http://localhost:%PORT%/dashboard
echo   API:       http://localhost:%PORT%/api/v1/sequence/stats
echo Press Ctrl+C to stop.
echo.
node dist\cli.js serve --profile %PROFILE% %*
