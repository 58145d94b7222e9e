// Package ova writes and reads OVA packages (DMTF DSP0243, the Open
// Virtualization Format): a tar holding the OVF descriptor first, then the
// stream-optimized VMDK, then a manifest of SHA-256 digests, the order
// VMware's tools expect and the one that lets the manifest be computed
// while writing.
package ova

import (
	"encoding/xml"
	"fmt"
)

// Namespaces of the OVF 1.x envelope and the CIM schemas its hardware
// items use.
const (
	nsOVF  = "http://schemas.dmtf.org/ovf/envelope/1"
	nsRASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
	nsVSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
	nsVMW  = "http://www.vmware.com/schema/ovf"
	nsXSI  = "http://www.w3.org/2001/XMLSchema-instance"

	// streamOptimized is the disk format URI VMware registered for
	// stream-optimized VMDKs.
	streamOptimized = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
)

// CIM resource types of the hardware items.
const (
	resourceCPU      = 3
	resourceMemory   = 4
	resourceSCSI     = 6
	resourceEthernet = 10
	resourceDisk     = 17
)

// envelope is the OVF descriptor. Field order is element order: the OVF
// schema fixes the order of sections, and the CIM schemas fix the order of
// an item's elements (alphabetical), which strict validators such as
// ovftool enforce.
type envelope struct {
	XMLName    xml.Name  `xml:"Envelope"`
	XMLNS      string    `xml:"xmlns,attr"`
	XMLNSOVF   string    `xml:"xmlns:ovf,attr"`
	XMLNSRASD  string    `xml:"xmlns:rasd,attr"`
	XMLNSVSSD  string    `xml:"xmlns:vssd,attr"`
	XMLNSVMW   string    `xml:"xmlns:vmw,attr"`
	XMLNSXSI   string    `xml:"xmlns:xsi,attr"`
	References []file    `xml:"References>File"`
	Disks      section   `xml:"DiskSection"`
	Networks   section   `xml:"NetworkSection"`
	System     vmSection `xml:"VirtualSystem"`
}

type file struct {
	Href string `xml:"ovf:href,attr"`
	ID   string `xml:"ovf:id,attr"`
	Size int64  `xml:"ovf:size,attr"`
}

type section struct {
	Info     string    `xml:"Info"`
	Disks    []disk    `xml:"Disk,omitempty"`
	Networks []network `xml:"Network,omitempty"`
}

type disk struct {
	Capacity      int64  `xml:"ovf:capacity,attr"`
	CapacityUnits string `xml:"ovf:capacityAllocationUnits,attr"`
	DiskID        string `xml:"ovf:diskId,attr"`
	FileRef       string `xml:"ovf:fileRef,attr"`
	Format        string `xml:"ovf:format,attr"`
	PopulatedSize int64  `xml:"ovf:populatedSize,attr"`
}

type network struct {
	Name        string `xml:"ovf:name,attr"`
	Description string `xml:"Description"`
}

type vmSection struct {
	ID       string    `xml:"ovf:id,attr"`
	Info     string    `xml:"Info"`
	Name     string    `xml:"Name"`
	OS       osSection `xml:"OperatingSystemSection"`
	Hardware hardware  `xml:"VirtualHardwareSection"`
}

type osSection struct {
	ID     int    `xml:"ovf:id,attr"`
	OSType string `xml:"vmw:osType,attr"`
	Info   string `xml:"Info"`
}

type hardware struct {
	Info   string   `xml:"Info"`
	System system   `xml:"System"`
	Items  []item   `xml:"Item"`
	Config []config `xml:"vmw:Config"`
}

type system struct {
	ElementName string `xml:"vssd:ElementName"`
	InstanceID  int    `xml:"vssd:InstanceID"`
	Identifier  string `xml:"vssd:VirtualSystemIdentifier"`
	Type        string `xml:"vssd:VirtualSystemType"`
}

// item is a CIM_ResourceAllocationSettingData; its elements must stay in
// alphabetical order.
type item struct {
	Address             string   `xml:"rasd:Address,omitempty"`
	AddressOnParent     string   `xml:"rasd:AddressOnParent,omitempty"`
	AllocationUnits     string   `xml:"rasd:AllocationUnits,omitempty"`
	AutomaticAllocation string   `xml:"rasd:AutomaticAllocation,omitempty"`
	Connection          string   `xml:"rasd:Connection,omitempty"`
	Description         string   `xml:"rasd:Description,omitempty"`
	ElementName         string   `xml:"rasd:ElementName"`
	HostResource        string   `xml:"rasd:HostResource,omitempty"`
	InstanceID          int      `xml:"rasd:InstanceID"`
	Parent              string   `xml:"rasd:Parent,omitempty"`
	ResourceSubType     string   `xml:"rasd:ResourceSubType,omitempty"`
	ResourceType        int      `xml:"rasd:ResourceType"`
	VirtualQuantity     string   `xml:"rasd:VirtualQuantity,omitempty"`
	Config              []config `xml:"vmw:Config"`
}

type config struct {
	Required string `xml:"ovf:required,attr"`
	Key      string `xml:"vmw:key,attr"`
	Value    string `xml:"vmw:value,attr"`
}

// descriptor builds the OVF descriptor for a VM with one disk, the VMDK
// named vmdkName of vmdkSize bytes holding a disk of capacity bytes.
func descriptor(o Options, vmdkName string, vmdkSize, capacity int64) ([]byte, error) {
	env := envelope{
		XMLNS: nsOVF, XMLNSOVF: nsOVF, XMLNSRASD: nsRASD, XMLNSVSSD: nsVSSD, XMLNSVMW: nsVMW, XMLNSXSI: nsXSI,
		References: []file{{Href: vmdkName, ID: "file1", Size: vmdkSize}},
		Disks: section{Info: "Virtual disk information", Disks: []disk{{
			Capacity: capacity, CapacityUnits: "byte", DiskID: "vmdisk1", FileRef: "file1", Format: streamOptimized,
		}}},
		Networks: section{Info: "The list of logical networks", Networks: []network{{
			Name: o.Network, Description: fmt.Sprintf("The %s network", o.Network),
		}}},
		System: vmSection{
			ID: o.Name, Info: "A virtual machine", Name: o.Name,
			OS: osSection{ID: o.OSID, OSType: o.OSType, Info: "The kind of installed guest operating system"},
			Hardware: hardware{
				Info:   "Virtual hardware requirements",
				System: system{ElementName: "Virtual Hardware Family", Identifier: o.Name, Type: o.HardwareVersion},
				Items: []item{
					{AllocationUnits: "hertz * 10^6", Description: "Number of Virtual CPUs", ElementName: fmt.Sprintf("%d virtual CPU(s)", o.CPUs),
						InstanceID: 1, ResourceType: resourceCPU, VirtualQuantity: fmt.Sprint(o.CPUs)},
					{AllocationUnits: "byte * 2^20", Description: "Memory Size", ElementName: fmt.Sprintf("%dMB of memory", o.MemoryMiB),
						InstanceID: 2, ResourceType: resourceMemory, VirtualQuantity: fmt.Sprint(o.MemoryMiB)},
					{Address: "0", Description: "SCSI Controller", ElementName: "SCSI Controller 0",
						InstanceID: 3, ResourceSubType: o.SCSIController, ResourceType: resourceSCSI},
					{AddressOnParent: "0", ElementName: "Hard Disk 1", HostResource: "ovf:/disk/vmdisk1",
						InstanceID: 4, Parent: "3", ResourceType: resourceDisk},
					{AddressOnParent: "7", AutomaticAllocation: "true", Connection: o.Network,
						Description: fmt.Sprintf("%s ethernet adapter on %q", o.NIC, o.Network), ElementName: "Ethernet 1",
						InstanceID: 5, ResourceSubType: o.NIC, ResourceType: resourceEthernet},
				},
				Config: []config{{Required: "false", Key: "firmware", Value: o.Firmware}},
			},
		},
	}
	b, err := xml.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}
