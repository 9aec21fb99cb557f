; Inno Setup 6 script: Windows installer for mscc-desktop (x64).
;
; Packs the one-folder app that scripts\build_installer.py builds (dist\mscc-desktop\:
; mscc-desktop.exe for the Start menu, mscc-desktop-cli.exe for the command line, _internal\).
; Build steps and what was and was not verified: installer\windows\BUILD.md.
;
;   iscc /DAppVersion=0.1.0 installer\windows\mscc-desktop.iss
;
; Per-machine install by default (Program Files, all users); users without admin rights can
; choose a per-user install in the first dialog (HKA below then means HKCU).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z installer\windows\mscc-desktop.iss
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\mscc-desktop"
#endif
#define AppName "mscc-desktop"
#define AppExe "mscc-desktop.exe"
#define ProgId "mscc-desktop.DICOM"

[Setup]
; Never change AppId: upgrades and uninstall find earlier versions by it.
AppId={{6F1D2C7E-3B7A-4E55-9C1B-5A4E2D9F8C31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=mscc-desktop developers
AppComments=MSCC reading workstation. Not for clinical use: the model is trained on synthetic CT only.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog commandline
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0.17763
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\mscc-desktop.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "dcmdefault"; Description: "Open .dcm files with {#AppName} by default"; GroupDescription: "File associations:"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "MSCC reading workstation (not for clinical use)"
Name: "{autoprograms}\{#AppName} - demo study"; Filename: "{app}\{#AppExe}"; Parameters: "--demo"; Comment: "Open the synthetic demo study"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; One ProgID opens a DICOM file, a DICOMDIR or a folder in the workstation.
Root: HKA; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "DICOM image or DICOMDIR"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""

; DICOMDIR: Windows associates by extension and DICOMDIR has none. Extensionless files map to
; the "." key; listing the ProgID under its OpenWithProgids puts mscc-desktop into "Open with"
; for a DICOMDIR without taking over every file that lacks an extension.
Root: HKA; Subkey: "Software\Classes\.\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue

; .dcm / .dicom: always offered under "Open with"; the default only with the task above.
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.dicom\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: ""; ValueData: "{#ProgId}"; Flags: uninsdeletevalue; Tasks: dcmdefault

; Folders and CD/DVD drives (the usual way a DICOM export arrives): "Open in mscc-desktop".
Root: HKA; Subkey: "Software\Classes\Directory\shell\{#AppName}"; ValueType: string; ValueName: ""; ValueData: "Open in {#AppName}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Directory\shell\{#AppName}"; ValueType: string; ValueName: "Icon"; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\Directory\shell\{#AppName}\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKA; Subkey: "Software\Classes\Drive\shell\{#AppName}"; ValueType: string; ValueName: ""; ValueData: "Open in {#AppName}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Drive\shell\{#AppName}"; ValueType: string; ValueName: "Icon"; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\Drive\shell\{#AppName}\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""

; Registered application: its name and icon in "Open with" and Default Apps.
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".dcm"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".dicom"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: "."; ValueData: ""

[Run]
Filename: "{app}\{#AppExe}"; Parameters: "--demo"; Description: "Start {#AppName} with the demo study"; Flags: nowait postinstall skipifsilent unchecked

[UninstallDelete]
; Only what the installer put there; the reader's results store and settings
; (%LOCALAPPDATA%\mscc-desktop) are kept.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
